"""DynamoDB adapters: PynamoDB models (the one definition of every table) and repositories."""
