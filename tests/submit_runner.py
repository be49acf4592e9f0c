"""A runner that submits and returns, like a Dataflow Flex Template launch: the job runs on in a thread."""

from __future__ import annotations

import threading
from typing import Any

from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.runner import PipelineResult, PipelineRunner, PipelineState


class _Submitted(PipelineResult):
    def __init__(self, thread: threading.Thread) -> None:
        super().__init__(PipelineState.RUNNING)
        self._thread = thread

    def wait_until_finish(self, duration: Any = None) -> str:
        self._thread.join(None if duration is None else duration / 1000)
        self._state = PipelineState.RUNNING if self._thread.is_alive() else PipelineState.DONE
        return self._state


class SubmitAndReturnRunner(PipelineRunner):
    """Starts the pipeline on the in-process FnApiRunner in a thread and returns at once."""

    jobs: list[threading.Thread] = []  # noqa: RUF012 - the tests join what was submitted

    def run_pipeline(self, pipeline: Any, options: Any) -> PipelineResult:
        thread = threading.Thread(target=FnApiRunner().run_pipeline, args=(pipeline, options), daemon=True)
        thread.start()
        self.jobs.append(thread)
        return _Submitted(thread)
