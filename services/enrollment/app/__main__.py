from lms_runtime import serve

from app.core.config import Settings
from app.main import create_app

serve("enrollment", Settings, create_app)
