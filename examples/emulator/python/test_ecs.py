"""Testing code that drives ECS against Berth's emulator, with boto3.

This is what a test of a deploy script or a Lambda handler looks like: the
code under test (here `deploy`) calls ECS; the test checks what ECS did.
"""
import json

IDENTITY = json.dumps({"instanceId": "i-0123456789abcdef0", "instanceType": "m5.large",
                       "availabilityZone": "us-east-1b", "imageId": "ami-0abc",
                       "region": "us-east-1", "accountId": "123456789012"})


def deploy(ecs, cluster, image, count):
    """The code under test: register a revision and roll the service to it."""
    td = ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "web", "image": image, "memory": 256}],
    )["taskDefinition"]["taskDefinitionArn"]
    services = ecs.describe_services(cluster=cluster, services=["web"])["services"]
    if services and services[0]["status"] == "ACTIVE":
        ecs.update_service(cluster=cluster, service="web", taskDefinition=td, desiredCount=count)
    else:
        ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=td, desiredCount=count)
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"],
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return td


def fleet(ecs, cluster="ci"):
    ecs.create_cluster(clusterName=cluster)
    ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=IDENTITY)


def test_a_deploy_rolls_the_service_to_the_new_revision(ecs):
    fleet(ecs)
    first = deploy(ecs, "ci", "my/web:1", 2)
    second = deploy(ecs, "ci", "my/web:2", 3)
    svc = ecs.describe_services(cluster="ci", services=["web"])["services"][0]
    assert first != second
    assert svc["taskDefinition"] == second
    assert svc["runningCount"] == 3
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY"]
    tasks = ecs.describe_tasks(cluster="ci", tasks=ecs.list_tasks(cluster="ci")["taskArns"])["tasks"]
    assert {t["taskDefinitionArn"] for t in tasks if t["lastStatus"] == "RUNNING"} == {second}


def test_a_task_runs_and_stops(ecs):
    fleet(ecs)
    instance = ecs.describe_container_instances(
        cluster="ci", containerInstances=ecs.list_container_instances(cluster="ci")["containerInstanceArns"]
    )["containerInstances"][0]
    assert instance["ec2InstanceId"] == "i-0123456789abcdef0"
    ecs.register_task_definition(family="job", containerDefinitions=[{"name": "job", "image": "my/job:1", "memory": 128}])
    task = ecs.run_task(cluster="ci", taskDefinition="job")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster="ci", tasks=[task], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ecs.stop_task(cluster="ci", task=task, reason="done")
    ecs.get_waiter("tasks_stopped").wait(cluster="ci", tasks=[task], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    stopped = ecs.describe_tasks(cluster="ci", tasks=[task])["tasks"][0]
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "done"


def test_each_test_starts_empty(ecs):
    # Indexing answers directly, as boto3 code does: empty lists are [].
    assert ecs.list_clusters()["clusterArns"] == []
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []
