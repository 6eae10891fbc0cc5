"""DataLoaders whose worker start survives Ctrl-C: no "Exception ignored ... has no attribute '_workers'".

torch's multi-worker iterator starts its workers in `__init__`. A KeyboardInterrupt there leaves a half-built
iterator; its `__del__` then reads attributes `__init__` never set (`_workers`, `_workers_status`) and Python
prints "Exception ignored in ... __del__" under the interrupted run's own message, while the workers already
started live on until the process exits. `WorkerSafeLoader` builds its iterator so that a failure or an
interrupt during the start stops the workers started so far, marks the iterator shut down (its `__del__` then
does nothing) and re-raises.
"""
from __future__ import annotations

import webdataset as wds
from torch.utils.data import DataLoader
from torch.utils.data import _utils as torch_data_utils
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter


class _WorkerSafeIter(_MultiProcessingDataLoaderIter):
    def __init__(self, loader) -> None:
        try:
            super().__init__(loader)
        except BaseException:
            self._stop_partly_started()
            raise

    def _stop_partly_started(self) -> None:
        """Stop what an interrupted `__init__` started, using only the attributes it got to set."""
        state = self.__dict__
        if state.get("_shutdown") is False and "_workers_status" in state:
            try:                                    # fully built but for the end of _reset: torch's own shutdown
                self._shutdown_workers()
                return
            except Exception:                       # noqa: BLE001 - fall back to stopping the processes below
                pass
        if "_workers_done_event" in state:
            self._workers_done_event.set()
        for w in state.get("_workers", ()):
            if w.is_alive():
                w.terminate()
        for w in state.get("_workers", ()):
            w.join(timeout=torch_data_utils.MP_STATUS_CHECK_INTERVAL)
        if state.get("_worker_pids_set"):
            torch_data_utils.signal_handling._remove_worker_pids(id(self))
            self._worker_pids_set = False
        self._shutdown = True                       # __del__ -> _shutdown_workers: nothing left to do

    def __del__(self) -> None:
        if "_shutdown" in self.__dict__:
            super().__del__()


class WorkerSafeLoader(DataLoader):
    """torch's DataLoader, with `_WorkerSafeIter` as its multi-worker iterator."""

    def _get_iterator(self):
        if self.num_workers == 0:
            return super()._get_iterator()
        self.check_worker_number_rationality()
        return _WorkerSafeIter(self)


class WebLoader(wds.WebLoader):
    """webdataset's WebLoader (fluid interface: `.with_epoch`...) over a `WorkerSafeLoader`."""

    def __init__(self, *args, **kw):
        wds.DataPipeline.__init__(self, WorkerSafeLoader(*args, **kw))
