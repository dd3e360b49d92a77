"""The ECS HTTP endpoint: Amazon ECS's awsJson1.1 API over the ECS API layer (`ecs-operator api`),
for the aws CLI, boto3 and the other AWS SDKs, unmodified."""
