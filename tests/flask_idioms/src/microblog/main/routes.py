from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from microblog import db
from microblog.main import bp
from microblog.models import Post, User


@bp.before_app_request
def before_request():
    if current_user.is_authenticated:
        current_user.last_seen = datetime.now(UTC)
        db.session.commit()


@bp.route("/", methods=["GET", "POST"])
@bp.route("/index", methods=["GET", "POST"])
@login_required
def index():
    page = request.args.get("page", 1, type=int)
    query = sa.select(Post).where(Post.published == True).order_by(Post.timestamp.desc())
    posts = db.paginate(query, page=page, per_page=current_app.config["POSTS_PER_PAGE"])
    return render_template("index.html", title="Home", posts=posts.items)


@bp.route("/user/<username>")
@login_required
def user(username):
    user = db.first_or_404(sa.select(User).where(User.username == username))
    return render_template("user.html", user=user)


@bp.route("/unfollow/<username>", methods=["POST"])
@login_required
def unfollow(username):
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        flash(f"User {username} not found.")
        return redirect(url_for("main.index"))
    return redirect(url_for("main.user", username=username))
