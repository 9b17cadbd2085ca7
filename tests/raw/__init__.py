"""The raw landing zone: kept responses, replay, retention, crash safety."""
