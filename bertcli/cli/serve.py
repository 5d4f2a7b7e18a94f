def serve_cmd() -> None:
    """placeholder"""
