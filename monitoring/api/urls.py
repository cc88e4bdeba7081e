from catena_site.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("operations", views.OperationViewSet, basename="operation")
router.register("play-sessions", views.PlaySessionViewSet, basename="play-session")

urlpatterns = router.urls
