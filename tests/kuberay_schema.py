"""A JSON schema of the RayJob fields docs/examples/rayjob.yaml uses, written from KubeRay's CRD.

Source: ray-project/kuberay, helm-chart/kuberay-operator/crds/ray.io_rayjobs.yaml, version v1 (the served
storage version), at commit feeaf72 (v1.7.0-rc.0+5). Every property below is the CRD's, with the CRD's type,
format (int32), quantity pattern and `required` list; only the fields the example uses, and a few it is likely
to grow into, are kept (all in KubeRay 1.1 and later), and unknown fields are refused (`additionalProperties:
false`): the API server prunes fields the CRD does not know without a word, so a misspelt key would be silently
ignored. Stricter than the CRD on purpose: `metadata` (the CRD's is an opaque object, Kubernetes' ObjectMeta)
needs a name, and `spec` needs `entrypoint` and `rayClusterSpec` (a RayJob that brings up its own cluster and
submits a command). The `submissionMode` values, plain strings in the CRD, are those of KubeRay 1.1's Go types
(rayjob_types.go; InteractiveMode came in 1.3). A field added to the manifest must be added here, from the CRD.
"""
from __future__ import annotations

STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT32 = {"type": "integer", "format": "int32"}
STR_MAP = {"type": "object", "additionalProperties": STR}
# resource.Quantity, as the CRD states it
QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                       r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"}


def obj(required: tuple = (), **props) -> dict:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


ENV_VAR = obj(("name",), name=STR, value=STR,
              valueFrom=obj(secretKeyRef=obj(("key",), key=STR, name=STR, optional=BOOL)))
ENV_FROM = obj(prefix=STR, secretRef=obj(name=STR, optional=BOOL), configMapRef=obj(name=STR, optional=BOOL))
CONTAINER = obj(("name",), name=STR, image=STR, imagePullPolicy=STR, command=array(STR), args=array(STR),
                env=array(ENV_VAR), envFrom=array(ENV_FROM),
                resources=obj(limits={"type": "object", "additionalProperties": QUANTITY},
                              requests={"type": "object", "additionalProperties": QUANTITY}),
                volumeMounts=array(obj(("mountPath", "name"), mountPath=STR, name=STR, readOnly=BOOL)))
TOLERATION = obj(effect=STR, key=STR, operator=STR, tolerationSeconds={"type": "integer", "format": "int64"},
                 value=STR)
POD_TEMPLATE = obj(metadata=obj(labels=STR_MAP, annotations=STR_MAP),
                   spec=obj(("containers",), containers=array(CONTAINER), tolerations=array(TOLERATION),
                            nodeSelector=STR_MAP, serviceAccountName=STR))
HEAD_GROUP = obj(("template",), rayStartParams=STR_MAP, serviceType=STR, template=POD_TEMPLATE)
WORKER_GROUP = obj(("groupName", "maxReplicas", "minReplicas", "template"), groupName=STR, replicas=INT32,
                   minReplicas=INT32, maxReplicas=INT32, numOfHosts=INT32, rayStartParams=STR_MAP,
                   template=POD_TEMPLATE)
RAY_CLUSTER_SPEC = obj(("headGroupSpec",), rayVersion=STR, enableInTreeAutoscaling=BOOL, headGroupSpec=HEAD_GROUP,
                       workerGroupSpecs=array(WORKER_GROUP))
RAYJOB = obj(("apiVersion", "kind", "metadata", "spec"),
             apiVersion={"const": "ray.io/v1"}, kind={"const": "RayJob"},
             metadata=obj(("name",), name=STR, namespace=STR, labels=STR_MAP, annotations=STR_MAP),
             spec=obj(("entrypoint", "rayClusterSpec"),
                      entrypoint=STR, runtimeEnvYAML=STR, jobId=STR, metadata=STR_MAP,
                      submissionMode={"enum": ["K8sJobMode", "HTTPMode"]},
                      shutdownAfterJobFinishes=BOOL, ttlSecondsAfterFinished=INT32, activeDeadlineSeconds=INT32,
                      suspend=BOOL, entrypointNumCpus={"type": "number"},
                      entrypointNumGpus={"type": "number"}, entrypointResources=STR,
                      rayClusterSpec=RAY_CLUSTER_SPEC))
