from ragway.jobs import FileState, FileStatus, JobStatus, job_status


def files(*statuses):
    return [FileState(file_id=str(i), name=f"f{i}", size=1, status=s) for i, s in enumerate(statuses)]


def test_job_status_follows_its_files():
    assert job_status(files(FileStatus.queued, FileStatus.queued)) == JobStatus.queued
    assert job_status(files(FileStatus.done, FileStatus.queued)) == JobStatus.running
    assert job_status(files(FileStatus.running)) == JobStatus.running
    assert job_status(files(FileStatus.done, FileStatus.failed)) == JobStatus.done
    assert job_status(files(FileStatus.skipped)) == JobStatus.done
    assert job_status(files(FileStatus.failed, FileStatus.failed)) == JobStatus.failed


def test_a_job_with_nothing_to_do_ends_once_sealed():
    assert job_status([], sealed=True) == JobStatus.done
    assert job_status([], sealed=False) == JobStatus.queued  # files may still come
