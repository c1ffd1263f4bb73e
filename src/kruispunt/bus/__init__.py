"""The distributed log of reads on NATS JetStream, for running several node processes.

Ingest appends to a partitioned stream (``jetstream``); workers own partitions through leases
in a KV bucket (``leases``), so one vehicle's reads are handled by one worker at a time; live
events reach every API process over core NATS (``fanout``).
"""
