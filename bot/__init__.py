"""storybot: the answer engine (`answering`), its front ends (`cli`, `telegram`), `evaluation`."""
