"""The Chalice app: middleware and blueprints, nothing else. Every Lambda imports this file: keep it lean."""

from chalice import Chalice

from chalicelib.api import auth, middleware, platform

app = Chalice(app_name="owner-portal")
app.debug = False

middleware.register(app)
app.register_blueprint(platform.bp)
app.register_blueprint(auth.bp)
