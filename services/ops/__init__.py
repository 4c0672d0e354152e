"""Running Leadgram: health, heartbeats, the dashboard's figures and the panel's login."""
