from catena_site.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("operations", views.OperationViewSet, basename="operation")

urlpatterns = router.urls
