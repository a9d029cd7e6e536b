"""GET /v1/models with Django REST framework: the models this key's tenant may use, in OpenAI's list format."""
from __future__ import annotations

from asgiref.sync import async_to_sync
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from providers import routes
from tenants.authentication import ApiKeyAuthentication


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["model"])
    created = serializers.IntegerField()
    owned_by = serializers.CharField(help_text="The first provider of the model's chain.")


class ModelListSerializer(serializers.Serializer):
    object = serializers.ChoiceField(choices=["list"])
    data = ModelSerializer(many=True)


class ModelsView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = []

    @extend_schema(operation_id="listModels", responses=ModelListSerializer,
                   summary="The models this key's tenant may use, in OpenAI's list format.")
    def get(self, request):
        principal = request.auth
        table = async_to_sync(routes.table)()  # from memory in steady state
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": targets[0].provider}
            for name, targets in sorted(table.items())
            if principal.may_use(name)
        ]
        return Response(ModelListSerializer({"object": "list", "data": data}).data)
