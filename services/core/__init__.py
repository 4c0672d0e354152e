"""What every capability builds on and that builds on no other service: settings,
policy, time zones, escaping, parsing input, who is acting, events and the audit log."""
