"""Camera images: their files (``store``) and their life and access (``service``)."""
