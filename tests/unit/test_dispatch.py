from ragway.dispatch import batches
from ragway.jobs import FileState, FileStatus, job_status


def f(i, size):
    return FileState(file_id=str(i), name=f"f{i}", size=size)


def test_batches_bound_files_and_bytes_without_splitting_a_file():
    files = [f(0, 10), f(1, 10), f(2, 10), f(3, 100), f(4, 1)]
    assert list(batches(files, max_files=2, max_bytes=50)) == [["0", "1"], ["2"], ["3"], ["4"]]
    assert list(batches([], 2, 50)) == []


def test_open_job_is_not_done_until_sealed():
    done = [FileState(file_id="1", name="a", size=1, status=FileStatus.done)]
    assert job_status(done, sealed=False) == "running"
    assert job_status(done, sealed=True) == "done"
    cancelled = [FileState(file_id="1", name="a", size=1, status=FileStatus.cancelled)]
    assert job_status(cancelled, sealed=True, cancelled=True) == "cancelled"
