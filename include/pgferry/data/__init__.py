"""Data: work-unit planning, COPY streaming, validation."""
