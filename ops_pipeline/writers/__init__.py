"""Writing workbooks: a streaming xlsx writer (export), and cell edits inside an existing one (write-back)."""
