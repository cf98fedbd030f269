"""Settings, read from the environment (see README "Production configuration").

The embedded default (no variables set) is SQLite next to the code, Celery tasks executed
in-process, DEBUG off unless asked for; `make run` adds DEBUG=1 and a worker with beat on a
broker kept in files. Production sets DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS and
CELERY_BROKER_URL.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_pairs,
    env_str,
    env_timezone,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. For development run with DEBUG=1, as `make run` does."
        )
    SECRET_KEY = "insecure-development-key-only-for-make-run-and-tests"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin's theme (config/admin_theme.py): before django.contrib.admin so its templates win;
    # its contrib apps restyle the pages of the libraries below (filters, forms, import-export,
    # simple-history). django-celery-beat needs no app of its own: campaigns/admin_jobs.py
    # registers its admins on unfold's classes.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the docs page's Swagger UI, served locally (works offline)
    "django_filters",
    "import_export",
    "simple_history",
    "phonenumber_field",
    "django_celery_beat",
    # building blocks with no domain (bulk COPY, exports, admin toolkit, the base business-rule
    # error, roles, number formats): every app may use them, they use no app
    "config.common",
    # domain apps, in dependency order: each may use the ones above it only; the members app's
    # subsystems (what members did, imports, API partners) are apps of their own, inside members/
    "members",
    "members.purchases",
    "members.imports",
    "members.partners",
    "members.scoring",
    "members.messaging",  # the outbox: any app's service queues a message in its own transaction
    "members.webhooks",  # the same for partners' webhooks
    "members.oneid",  # one person, one member: duplicates and merges (each app moves its own rows)
    "members.referrals",  # referrals (以老带新): codes, who referred whom
    "members.privacy",  # PIPL: personal data copy, erasure, retention, access log
    "points",
    "points.households",  # 家庭账户: members pool points or give them to the head
    "points.cash",  # 积分抵现: points as payment at the till (hold, capture, release)
    "tiers",
    "benefits",
    "campaigns",
    "campaigns.insight",  # reads every app: rollups, the insight pages, the finance roll-forward
    "campaigns.segments",  # members found by conditions on every app's data
    "campaigns.journeys",  # automated marketing: triggers, waits, conditions, messages, coupons
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # records request.user as the author of every model history row
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the embedded default; persistent connections buy nothing there.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # `make run` writes from two processes (the web server and the worker with beat). WAL lets
    # pages read while a job writes; a write waits up to 20 s for the other's lock instead of
    # failing at once; and IMMEDIATE takes the write lock when a transaction begins, because a
    # transaction that read first and then asks to write can only fail, whatever the timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL;"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE={LANGUAGE_CODE!r} must be one of zh-hans, en.")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_timezone("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# --- security: production values come on automatically when DEBUG is off ----------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)  # one working shift
SILENCED_SYSTEM_CHECKS = []
if not SECURE_HSTS_PRELOAD:
    # Preloading is a one-way commitment the brand's domain owner takes, not a code default.
    SILENCED_SYSTEM_CHECKS.append("security.W021")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A covering index's extra columns (a speed-up on PostgreSQL) are left out on SQLite: the
    # index still serves, so the embedded default need not warn about it on every command.
    SILENCED_SYSTEM_CHECKS.append("models.W040")

# --- Celery ------------------------------------------------------------------------------
# The API's per-key rate limits are counted in this cache. Production with several web processes
# sets CACHE_URL (redis://...) so they share one count; without it each process counts alone.
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Which provider sends each channel's messages, as channel=provider pairs ("sms=recording"); a
# provider is a name of members/messaging/providers.py or a dotted path to a class. Unnamed
# channels record their messages instead of sending them (the inbox is always the app's own).
MESSAGING_PROVIDERS = env_pairs("MESSAGING_PROVIDERS")


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 < rate < 100_000:
        raise ValueError(value)
    return rate


# Sends a second per channel ("sms=50,wechat=20"), shared by every worker process (a row per
# channel in the database: members/messaging/rates.py); unnamed channels are not limited.
MESSAGING_RATES = env_pairs("MESSAGING_RATES", _rate)
# Seconds a gateway (SMS, WeChat) may take to answer before the send is retried later.
MESSAGING_TIMEOUT = env_int("MESSAGING_TIMEOUT", 5)
# The signed-HTTP SMS gateway (provider "sms"; the signature: docs/architecture.md).
MESSAGING_SMS_URL = env_str("MESSAGING_SMS_URL", "")
MESSAGING_SMS_KEY_ID = env_str("MESSAGING_SMS_KEY_ID", "")
MESSAGING_SMS_SECRET = env_str("MESSAGING_SMS_SECRET", "")
MESSAGING_SMS_FORMAT = env_choice("MESSAGING_SMS_FORMAT", "json", ("json", "form"))
MESSAGING_SMS_SIGN_NAME = env_str("MESSAGING_SMS_SIGN_NAME", "")  # 短信签名, e.g. 品牌会员
# The gateway's template per template code ("points_expiry=SMS_1234"), for gateways that ask for one.
MESSAGING_SMS_TEMPLATES = env_pairs("MESSAGING_SMS_TEMPLATES")
# Where the gateway's answer names its own id for the message (provider_ref, delivery receipts).
MESSAGING_SMS_ID_FIELD = env_str("MESSAGING_SMS_ID_FIELD", "id")
# WeChat (provider "wechat"): the brand's mini-program (subscribe messages) or official account
# (template messages); its AppID and AppSecret fetch the access token.
MESSAGING_WECHAT_APPID = env_str("MESSAGING_WECHAT_APPID", "")
MESSAGING_WECHAT_SECRET = env_str("MESSAGING_WECHAT_SECRET", "")
MESSAGING_WECHAT_KIND = env_choice("MESSAGING_WECHAT_KIND", "subscribe", ("subscribe", "template"))
# The page a subscribe message opens ("pages/inbox/index"), or a template message's link.
MESSAGING_WECHAT_PAGE = env_str("MESSAGING_WECHAT_PAGE", "")
MESSAGING_WECHAT_STATE = env_choice("MESSAGING_WECHAT_STATE", "formal", ("formal", "trial", "developer"))
# The field a body that is not "key: value" lines goes to, whole (cut to its 20 characters).
MESSAGING_WECHAT_FIELD = env_str("MESSAGING_WECHAT_FIELD", "thing1")
MESSAGING_WECHAT_API = env_str("MESSAGING_WECHAT_API", "https://api.weixin.qq.com")
# The secret gateways sign their callbacks with (SMS replies, delivery receipts); none: refused.
MESSAGING_CALLBACK_SECRET = env_str("MESSAGING_CALLBACK_SECRET", "")
# Webhooks to partners: hosts (names or literal addresses) and networks (CIDR) that may be called
# although they are private or loopback (on-premise partners; tests' local receivers). Anything
# else private, loopback, link-local, multicast or reserved is refused (SSRF).
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
# Where members reach this server (links in messages: unsubscribing).
PUBLIC_URL = env_str("PUBLIC_URL", "http://127.0.0.1:8000")
# Email (provider "email") goes through Django's email backend: SMTP unless EMAIL_BACKEND says otherwise.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)  # Django's default waits for ever
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
# Without a broker tasks run in-process when they are enqueued (and nothing runs the schedule).
# `make run` sets ``filesystem://``: kombu keeps the queue as files in CELERY_FILESYSTEM_DIR, so
# the embedded default has a worker and beat with no server to install.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", None) or None
CELERY_TIMEZONE = TIME_ZONE
# A task is acknowledged when it ends, not when it starts: a worker that dies mid-import leaves
# the message to be delivered again, and the job resumes with the rows still pending. Every
# task is safe to run twice (the import takes turns per chunk under a row lock; the scheduled
# jobs are idempotent), which is what makes redelivery harmless.
CELERY_TASK_ACKS_LATE = True
# A pool process killed under the worker (out of memory, SIGKILL) puts its message back at once
# instead of failing it; without this, acks_late only covers the death of the whole worker.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged message to another worker after this many seconds (kombu's
# default, an hour): how long a job waits when its worker died with the whole machine. Shorter
# is safe, only wasteful: a job still running when its message is handed out again shares the
# work with the second worker (the import takes turns per chunk), it is not done twice.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL and CELERY_BROKER_URL.startswith("filesystem:"):
    _queue_dir = Path(env_str("CELERY_FILESYSTEM_DIR", str(BASE_DIR / ".celery-queue")))
    for _folder in ("out", "processed", "control"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
    }
# The schedules are rows edited in the admin (周期任务), written when the database is new
# (config/common/jobs.py: what each job does, and the schedules a new database starts with).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- libraries ---------------------------------------------------------------------------
PHONENUMBER_DEFAULT_REGION = "CN"
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "INTERNATIONAL"  # how the admin shows them: +86 139 1234 5678

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
# Off on purpose: the library's escaping only deletes a leading "=" and turns every cell into text
# (numbers too, None into "None"). Our export resources quote formulas instead: config/common/exports.py.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
# A control character in a name would make the whole XLSX export fail; replace it instead.
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# A request body (not a file upload) above this is refused: 413 ``too_large`` under /api/ (a
# 500-line purchase is about 80 KB). Django's default, stated because docs/api.md quotes it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

REST_FRAMEWORK = {
    # Partner endpoints set their own (members/partners/api/views.py); anything else is closed by default.
    "DEFAULT_AUTHENTICATION_CLASSES": ["members.partners.api.auth.PartnerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["members.partners.api.auth.HasGrant"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "members.partners.api.schema.PartnerAutoSchema",
    "EXCEPTION_HANDLER": "members.partners.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}

# The API reloads the earning rules and live campaigns at most this often per web process (0: on
# every request). Budgets and caps are always counted from the database.
RULE_BOOK_CACHE_SECONDS = env_int("RULE_BOOK_CACHE_SECONDS", 5)

# Member codes (docs/api.md, "Trust"): how long a code the brand's app shows is valid, and how
# long a third-party partner may spend the member's points after redeeming one (the visit).
MEMBER_CODE_SECONDS = env_int("MEMBER_CODE_SECONDS", 120)
MEMBER_VISIT_MINUTES = env_int("MEMBER_VISIT_MINUTES", 15)

# Selling paid plans (docs/api.md, "Selling a paid plan"): how long an order waits for its payment,
# and the secret the brand's payment system signs its payment notices with (none: every notice is
# refused). During a rotation the previous secret is accepted too.
PLAN_ORDER_MINUTES = env_int("PLAN_ORDER_MINUTES", 30)
PAYMENT_NOTIFY_SECRET = env_str("PAYMENT_NOTIFY_SECRET", "")
PAYMENT_NOTIFY_PREVIOUS_SECRET = env_str("PAYMENT_NOTIFY_PREVIOUS_SECRET", "")

SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty partner API",
    "DESCRIPTION": (
        "For POS vendors, online shops and the brand's apps. Authenticate with "
        "`Authorization: Api-Key <key>`; send an `Idempotency-Key` with every POST that changes "
        "data. Errors always have the body `{code, message, fields}`. See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "members.partners.api.schema.add_errors",
    ],
    # one name per choice set that several fields share
    "ENUM_NAME_OVERRIDES": {"ChannelEnum": "members.models.Channel"},
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# The product's own name in the admin header.
ADMIN_SITE_HEADER = _("Loyalty back office")

# People sign in to the admin only. Its theme's login form posts no "next" (Django's does), so
# signing in at /admin/login/ itself lands here rather than on Django's /accounts/profile/.
LOGIN_REDIRECT_URL = "admin:index"

# The admin's theme (django-unfold): its name, the language menu, the sidebar by what each role
# comes for (config/admin_theme.py), and our pages' tables in its look (config/common/static).
UNFOLD = {
    "SITE_TITLE": ADMIN_SITE_HEADER,
    "SITE_HEADER": ADMIN_SITE_HEADER,
    "SITE_SYMBOL": "loyalty",
    "SITE_URL": None,  # "/" is the admin itself: no "view site" link
    "SHOW_LANGUAGES": True,
    "STYLES": [lambda request: static("loyalty/admin.css")],
    "SIDEBAR": {
        "show_search": True,
        # every list the user may open, as Django's app list has them: nothing is out of reach
        "show_all_applications": True,
        "navigation": "config.admin_theme.sidebar",
    },
}
