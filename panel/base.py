"""What every Flask-Admin view of the panel shares."""
from flask import flash, redirect, request, url_for
from flask_admin.contrib.peewee import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm


def login_required_view(view_class):
    """A Flask-Admin view class that only a logged-in deployer may open."""
    class LoginRequired(view_class):
        def is_accessible(self):
            return current_user.is_authenticated

        def inaccessible_callback(self, name, **kwargs):
            return redirect(url_for("auth.login", next=request.full_path))
    return LoginRequired


class PanelModelView(login_required_view(ModelView)):
    # Flask-WTF's CSRF on every form, including delete and bulk-action forms.
    form_base_class = FlaskForm
    page_size = 20
    can_set_page_size = True
    can_view_details = True

    def field_error(self, form, field, message):
        """Show a service's refusal under the field it concerns."""
        target = getattr(form, field, None)
        if target is None:
            flash(message, "error")
        else:
            target.errors = [*target.errors, message]
        return False
