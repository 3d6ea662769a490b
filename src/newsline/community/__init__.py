"""Community: accounts, comments, moderation and presence (readers online)."""
