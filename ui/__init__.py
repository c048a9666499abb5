"""The playground's tabs: each module builds one tab and holds its request handlers (validation -> gr.Error)."""
