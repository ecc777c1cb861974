"""Data sets as files on disk, read into items and labels: image folders (ImageNet-style, label files,
devkit), COCO json / YOLO folders (``images``), and the bundled text sets and HF datasets (``text``).
Nothing here knows about models; ``zoo.tasks`` pairs a task's data with its metric."""
