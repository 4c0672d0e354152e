"""What every capability builds on and that builds on no other service."""
