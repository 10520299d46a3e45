"""Non-HTTP handlers: SQS consumers and schedules."""
