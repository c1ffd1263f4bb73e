"""A partition worker in a process of its own, for the test that kills one mid-stream.

Its handler is a tiny durable "database" per partition: a file of ``partition seq`` lines
and a cursor file ``seq offset`` written (atomically) after the lines, as a commit record.
A crash between the two leaves lines past the committed offset; the next handler rolls them
back (truncates) before writing, as a database would roll back an unfinished transaction.
Reads at or below the cursor are skipped: the handler is idempotent by sequence number.

Run: python bus_worker_proc.py URL STREAM PREFIX PARTITIONS GROUP TTL_S ROOT WORKER_ID HANG_AFTER
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from kruispunt.domain.reads import Read


class FileLedger:
    def __init__(self, root: Path, *, work_s: float = 0.0, hang_after: int = 0) -> None:
        self.root = root
        self.work_s = work_s
        self.skipped = 0
        self._lock = threading.Lock()
        # After this many commits, one handler call commits and then hangs (never returns,
        # so its messages are never acknowledged): the test kills the process right then.
        self._hang_after = hang_after
        self._commits = 0

    def _paths(self, partition: int) -> tuple[Path, Path]:
        return self.root / f"p{partition:03d}.log", self.root / f"p{partition:03d}.cur"

    def cursor(self, partition: int) -> tuple[int, int]:
        cur = self._paths(partition)[1]
        if not cur.exists():
            return 0, 0
        seq, offset = cur.read_text().split()
        return int(seq), int(offset)

    def __call__(self, partition: int, reads: list[Read]) -> None:
        log_path, cur_path = self._paths(partition)
        cursor, offset = self.cursor(partition)
        new = [r for r in reads if r.seq > cursor]
        with self._lock:
            self.skipped += len(reads) - len(new)
        if not new:
            return
        if self.work_s:
            time.sleep(self.work_s)
        with open(log_path, "ab") as f:
            f.truncate(offset)  # roll back lines of a commit that never finished
            f.write("".join(f"{partition} {r.seq}\n" for r in new).encode())
            f.flush()
            os.fsync(f.fileno())
            end = f.tell()
        tmp = cur_path.with_suffix(f".tmp{threading.get_ident()}")
        with open(tmp, "w") as f:
            f.write(f"{max(r.seq for r in new)} {end}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, cur_path)  # the commit
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        with self._lock:
            self._commits += 1
            hang = self._commits == self._hang_after
        if hang:
            # Written whole, then renamed: the test must never see it half written.
            part = self.root / "hanging.part"
            part.write_text(f"{partition} {len(new)}\n")
            part.rename(self.root / "hanging")
            time.sleep(3600)

    def committed(self) -> list[tuple[int, int]]:
        """Every committed (partition, seq) line, duplicates kept."""
        out: list[tuple[int, int]] = []
        for log_path in sorted(self.root.glob("p*.log")):
            partition = int(log_path.stem[1:])
            _, offset = self.cursor(partition)
            data = log_path.read_bytes()[:offset]
            out.extend((int(a), int(b)) for a, b in (line.split() for line in data.splitlines()))
        return out


def main(argv: list[str]) -> None:
    from kruispunt.bus.jetstream import PartitionWorker
    from kruispunt.config import BusConfig

    url, stream, prefix, partitions, group, ttl, root, worker_id, hang_after = argv
    config = BusConfig(
        url=url,
        stream=stream,
        subject_prefix=prefix,
        partitions=int(partitions),
        lease_ttl_s=float(ttl),
        fetch_batch=5,
        max_age_days=1,
        duplicate_window_s=60,
    )
    worker = PartitionWorker(
        config,
        group=group,
        handler=FileLedger(Path(root), work_s=0.005, hang_after=int(hang_after)),
        worker_id=worker_id,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    (Path(root) / f"ready.{worker_id}").write_text(",".join(map(str, sorted(worker.owned()))))
    stop.wait()
    worker.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
