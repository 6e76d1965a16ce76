"""The code of the commands at the top of the repository: the main job
(``train``) and captioning new images (``caption``)."""
