from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class PhoneLoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("手机号"),
        max_length=11,
        widget=forms.TextInput(
            attrs={"autocomplete": "tel", "inputmode": "numeric", "autofocus": True}
        ),
    )
    password = forms.CharField(
        label=_("密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
