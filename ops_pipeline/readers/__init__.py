"""Reading workbooks: the pre-open safety gate (``guard``) and the worksheet readers."""
