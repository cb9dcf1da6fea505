"""The upstream side: the provincial one-stop system (Hệ thống thông tin một cửa điện tử)."""
