"""Captcha rendering with the `captcha` library (Pillow underneath), imported only when a captcha is made."""

from __future__ import annotations


def render_png(text: str) -> bytes:
    from captcha.image import ImageCaptcha

    image = ImageCaptcha(width=180, height=64).generate_image(text)
    from io import BytesIO

    buffer = BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
