"""storybot's conversations, answer engine and front ends (CLI now, Telegram later)."""
