from __future__ import annotations

from django.urls import include, path, re_path

from djangoproject import views

items = [
    path("<int:pk>/", views.item, name="item"),
    re_path(r"^legacy/(?P<slug>[\w-]+)/$", views.item, name="legacy-item"),
]

urlpatterns = [
    path("ok/", views.ok, name="ok"),
    path("boom/", views.boom, name="boom"),
    path("orders/<int:order_id>/pay/", views.pay, name="pay"),
    path("template-error/", views.template_error, name="template-error"),
    path("template-syntax-error/", views.template_syntax_error, name="template-syntax-error"),
    path("items/", include(items)),
    path("message/", views.message, name="message"),
    path("log/", views.log_error, name="log"),
    path("echo/", views.echo, name="echo"),
    path("query/", views.query, name="query"),
    path("login/", views.log_in, name="login"),
    path("async/fail/<int:number>/", views.async_fail, name="async-fail"),
    path("async/message/", views.async_message, name="async-message"),
]
