"""The real Ralph LRS (ralph-malph) in its own virtualenv: see README.md."""
