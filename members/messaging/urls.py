from django.urls import path

from members.messaging import views

app_name = "messaging"

urlpatterns = [
    path("m/unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("hooks/messaging/sms-replies/", views.sms_reply_view, name="sms_replies"),
    path("hooks/messaging/receipts/", views.receipt_view, name="receipts"),
]
