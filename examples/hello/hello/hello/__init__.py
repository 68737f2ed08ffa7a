"""A tiny Flask site, deployed by wheelsfx: `import hello` finds it via DEST/venv/.../hello.pth."""
import os

from flask import Flask

app = Flask(__name__)


def greeting():
    return os.environ.get("GREETING", "hello")


@app.route("/")
def index():
    return greeting() + " from hello\n"
