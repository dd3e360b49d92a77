// Conformance check of the ECS endpoint (`ecs-operator api`) with the real, unmodified AWS SDK for
// Go v2 (service/ecs). Configured only by the environment an AWS client reads: AWS_ENDPOINT_URL_ECS,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION. Needs an ECS cluster "main" with capacity
// (kwok nodes) in the key's namespace, and the operator running.
//
// It prints one JSON line with what each step saw; on the first failure the line has "ok": false and
// "failure" (the step and the cause), the cause also goes to stderr, and the exit status is 1.
// tests/integration/test_endpoint_go.py builds and runs it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

const (
	cluster      = "main"
	family       = "go-web"
	targetPrefix = "AmazonEC2ContainerServiceV20141113."
)

// result is the JSON line printed: one key per step.
var result = map[string]any{"ok": false}

type failure struct{ step, msg string }

func fail(step, format string, args ...any) {
	panic(failure{step, fmt.Sprintf(format, args...)})
}

// counter counts the requests (attempts) the SDK sends, by operation, and where it sends them.
type counter struct {
	mu    sync.Mutex
	sent  map[string]int
	hosts map[string]bool
}

// counted is a client's HTTP client, wrapped to count what goes through it.
type counted struct {
	*counter
	next aws.HTTPClient
}

func (c counted) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.sent[strings.TrimPrefix(req.Header.Get("X-Amz-Target"), targetPrefix)]++
	c.hosts[req.URL.Scheme+"://"+req.URL.Host] = true
	c.mu.Unlock()
	return c.next.Do(req)
}

// wrap is an ecs.Options function that sends the client's requests through the counter.
func (c *counter) wrap(o *ecs.Options) {
	next := o.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	o.HTTPClient = counted{c, next}
}

func (c *counter) attempts(operation string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[operation]
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// apiError describes an error as the SDK returned it, and checks the parts every ECS error must have.
func apiError(step string, err error, count *counter, operation string, before int) map[string]any {
	if err == nil {
		fail(step, "expected an error, the call succeeded")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		fail(step, "the error is not a smithy.APIError (the SDK could not decode the answer?): %T: %v", err, err)
	}
	out := map[string]any{"code": ae.ErrorCode(), "message": ae.ErrorMessage(), "fault": ae.ErrorFault().String(),
		"attempts":  count.attempts(operation) - before,
		"retryable": retry.NewStandard().IsErrorRetryable(err)}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		out["httpStatus"] = re.HTTPStatusCode()
		out["requestId"] = re.ServiceRequestID()
	}
	if n := out["attempts"].(int); n != 1 {
		fail(step, "%s was sent %d times: the SDK retried a %s error (%v)", operation, n, ae.ErrorCode(), err)
	}
	if out["retryable"].(bool) {
		fail(step, "the standard retryer classes %s as retryable", ae.ErrorCode())
	}
	if out["httpStatus"] != 400 {
		fail(step, "HTTP status %v, expected 400 for %s", out["httpStatus"], ae.ErrorCode())
	}
	if out["requestId"] == "" || out["requestId"] == nil {
		fail(step, "no request id on the error (x-amzn-RequestId)")
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func run(ctx context.Context) {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_ECS")
	if endpoint == "" {
		fail("config", "AWS_ENDPOINT_URL_ECS is not set")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fail("config", "LoadDefaultConfig: %v", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fail("config", "no credentials from the environment: %v", err)
	}
	count := &counter{sent: map[string]int{}, hosts: map[string]bool{}}
	client := ecs.NewFromConfig(cfg, count.wrap)
	result["sdk"] = sdkVersions()
	result["region"] = cfg.Region
	result["credentialSource"] = creds.Source

	// ---- CreateCluster
	created, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
	if err != nil {
		fail("createCluster", "%v", err)
	}
	c := created.Cluster
	if c == nil || aws.ToString(c.ClusterName) != cluster || !strings.HasPrefix(aws.ToString(c.ClusterArn), "arn:aws:ecs:") {
		fail("createCluster", "unexpected cluster: %+v", c)
	}
	result["createCluster"] = map[string]any{"clusterName": aws.ToString(c.ClusterName), "clusterArn": aws.ToString(c.ClusterArn),
		"status": aws.ToString(c.Status), "requestId": requestID(created.ResultMetadata)}
	// The SDK went to AWS_ENDPOINT_URL_ECS, not to ecs.<region>.amazonaws.com.
	want, _ := url.Parse(endpoint)
	for host := range count.hosts {
		if host != want.Scheme+"://"+want.Host {
			fail("config", "the SDK sent a request to %s, not to AWS_ENDPOINT_URL_ECS=%s", host, endpoint)
		}
	}
	result["endpoint"] = endpoint
	if requestID(created.ResultMetadata) == "" {
		fail("createCluster", "no request id (x-amzn-RequestId) in the response metadata")
	}

	// ---- RegisterTaskDefinition ×3 (the paginator below wants ≥ 3 revisions)
	var arns []string
	var revisions []int32
	for i := 0; i < 3; i++ {
		reg, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family),
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64), Essential: aws.Bool(true),
				Environment: []types.KeyValuePair{{Name: aws.String("ROUND"), Value: aws.String(fmt.Sprint(i))}},
			}},
		})
		if err != nil {
			fail("registerTaskDefinition", "%v", err)
		}
		td := reg.TaskDefinition
		if td == nil || aws.ToString(td.Family) != family || len(td.ContainerDefinitions) != 1 ||
			aws.ToInt32(td.ContainerDefinitions[0].Memory) != 64 || td.RegisteredAt == nil {
			fail("registerTaskDefinition", "unexpected task definition: %+v", td)
		}
		arns = append(arns, aws.ToString(td.TaskDefinitionArn))
		revisions = append(revisions, td.Revision)
	}
	for i := 1; i < len(revisions); i++ {
		if revisions[i] != revisions[i-1]+1 {
			fail("registerTaskDefinition", "revisions not consecutive: %v", revisions)
		}
	}
	result["registerTaskDefinition"] = map[string]any{"revisions": revisions, "arns": arns}

	// ---- RunTask → TasksRunning waiter → DescribeTasks
	taskDefinition := arns[len(arns)-1]
	ran, err := client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String(taskDefinition),
		Count: aws.Int32(1)})
	if err != nil {
		fail("runTask", "%v", err)
	}
	if len(ran.Failures) != 0 || len(ran.Tasks) != 1 {
		fail("runTask", "expected 1 task and no failures, got %d tasks, failures %+v", len(ran.Tasks), ran.Failures)
	}
	task := ran.Tasks[0]
	taskArn := aws.ToString(task.TaskArn)
	if aws.ToString(task.TaskDefinitionArn) != taskDefinition || task.CreatedAt == nil {
		fail("runTask", "unexpected task: definition %q createdAt %v", aws.ToString(task.TaskDefinitionArn), task.CreatedAt)
	}
	result["runTask"] = map[string]any{"taskArn": taskArn, "lastStatus": aws.ToString(task.LastStatus),
		"desiredStatus": aws.ToString(task.DesiredStatus), "failures": len(ran.Failures)}

	describe := &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{taskArn}}
	started := time.Now()
	err = ecs.NewTasksRunningWaiter(client, func(o *ecs.TasksRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 2*time.Second
	}).Wait(ctx, describe, 2*time.Minute)
	if err != nil {
		fail("tasksRunningWaiter", "%v", err)
	}
	result["tasksRunningWaiter"] = map[string]any{"seconds": ms(time.Since(started)),
		"describeTasksCalls": count.attempts("DescribeTasks")}

	described, err := client.DescribeTasks(ctx, describe)
	if err != nil {
		fail("describeTasks", "%v", err)
	}
	if len(described.Tasks) != 1 || len(described.Failures) != 0 {
		fail("describeTasks", "expected 1 task and no failures, got %d tasks, failures %+v", len(described.Tasks), described.Failures)
	}
	t := described.Tasks[0]
	if aws.ToString(t.LastStatus) != "RUNNING" {
		fail("describeTasks", "lastStatus %q after the TasksRunning waiter, expected RUNNING", aws.ToString(t.LastStatus))
	}
	if t.CreatedAt == nil || t.CreatedAt.IsZero() || time.Since(*t.CreatedAt) > 10*time.Minute || time.Until(*t.CreatedAt) > time.Minute {
		fail("describeTasks", "createdAt %v is not the task's creation time", t.CreatedAt)
	}
	if aws.ToString(t.ClusterArn) != aws.ToString(c.ClusterArn) || len(t.Containers) != 1 || aws.ToString(t.Containers[0].Name) != "web" {
		fail("describeTasks", "unexpected task: cluster %q, containers %+v", aws.ToString(t.ClusterArn), t.Containers)
	}
	var startedAt any
	if t.StartedAt != nil {
		startedAt = t.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	result["describeTasks"] = map[string]any{"lastStatus": aws.ToString(t.LastStatus), "desiredStatus": aws.ToString(t.DesiredStatus),
		"createdAt": t.CreatedAt.UTC().Format(time.RFC3339Nano), "startedAt": startedAt,
		"containers": len(t.Containers), "containerLastStatus": aws.ToString(t.Containers[0].LastStatus),
		"requestId": requestID(described.ResultMetadata)}

	// ---- StopTask → TasksStopped waiter
	stopped, err := client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(taskArn),
		Reason: aws.String("go conformance")})
	if err != nil {
		fail("stopTask", "%v", err)
	}
	if stopped.Task == nil || aws.ToString(stopped.Task.DesiredStatus) != "STOPPED" {
		fail("stopTask", "desiredStatus %q, expected STOPPED", aws.ToString(stopped.Task.DesiredStatus))
	}
	result["stopTask"] = map[string]any{"desiredStatus": aws.ToString(stopped.Task.DesiredStatus),
		"lastStatus": aws.ToString(stopped.Task.LastStatus)}
	started = time.Now()
	final, err := ecs.NewTasksStoppedWaiter(client, func(o *ecs.TasksStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 2*time.Second
	}).WaitForOutput(ctx, describe, 2*time.Minute)
	if err != nil {
		fail("tasksStoppedWaiter", "%v", err)
	}
	ft := final.Tasks[0]
	if aws.ToString(ft.LastStatus) != "STOPPED" || ft.StoppedAt == nil {
		fail("tasksStoppedWaiter", "lastStatus %q stoppedAt %v", aws.ToString(ft.LastStatus), ft.StoppedAt)
	}
	result["tasksStoppedWaiter"] = map[string]any{"seconds": ms(time.Since(started)), "lastStatus": aws.ToString(ft.LastStatus),
		"stoppedReason": aws.ToString(ft.StoppedReason), "stopCode": string(ft.StopCode)}

	// ---- typed errors, not retried
	before := count.attempts("DescribeTasks")
	_, err = client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("nope"), Tasks: []string{taskArn}})
	notFound := apiError("clusterNotFound", err, count, "DescribeTasks", before)
	var cnf *types.ClusterNotFoundException
	if !errors.As(err, &cnf) {
		fail("clusterNotFound", "errors.As(err, *types.ClusterNotFoundException) is false; got %T: %v", errors.Unwrap(err), err)
	}
	notFound["type"] = fmt.Sprintf("%T", cnf)
	result["clusterNotFound"] = notFound

	before = count.attempts("DescribeTaskDefinition")
	_, err = client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("go-no-such-family")})
	unknown := apiError("clientException", err, count, "DescribeTaskDefinition", before)
	var ce *types.ClientException
	if !errors.As(err, &ce) {
		fail("clientException", "errors.As(err, *types.ClientException) is false; got: %v", err)
	}
	unknown["type"] = fmt.Sprintf("%T", ce)
	result["clientException"] = unknown

	// ---- paginator: ListTaskDefinitions, one per page
	pages := ecs.NewListTaskDefinitionsPaginator(client, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family),
		MaxResults: aws.Int32(1)}, func(o *ecs.ListTaskDefinitionsPaginatorOptions) { o.StopOnDuplicateToken = true })
	var listed, tokens []string
	seen := map[string]bool{}
	pageCount := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			fail("paginator", "page %d: %v", pageCount+1, err)
		}
		pageCount++
		if len(page.TaskDefinitionArns) > 1 {
			fail("paginator", "page %d has %d items with maxResults 1", pageCount, len(page.TaskDefinitionArns))
		}
		listed = append(listed, page.TaskDefinitionArns...)
		if token := aws.ToString(page.NextToken); token != "" {
			if seen[token] {
				fail("paginator", "nextToken %q repeated on page %d", token, pageCount)
			}
			seen[token] = true
			tokens = append(tokens, token)
		}
		if pageCount > 20 {
			fail("paginator", "more than 20 pages for %d revisions", len(arns))
		}
	}
	if pageCount < 3 {
		fail("paginator", "%d pages, expected at least 3", pageCount)
	}
	got, wanted := append([]string(nil), listed...), append([]string(nil), arns...)
	sort.Strings(got)
	sort.Strings(wanted)
	if strings.Join(got, ",") != strings.Join(wanted, ",") {
		fail("paginator", "listed %v, registered %v", listed, arns)
	}
	result["paginator"] = map[string]any{"pages": pageCount, "tokens": tokens, "arns": listed}

	// ---- a wrong secret key → InvalidSignatureException, not retried
	before = count.attempts("ListClusters")
	// (a client of its own: ecs v1.106.0 signs with the client's credentials even when an operation's
	// options replace Options.Credentials)
	wrongKey := ecs.NewFromConfig(cfg, count.wrap, func(o *ecs.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey+"x", "")
	})
	_, err = wrongKey.ListClusters(ctx, &ecs.ListClustersInput{})
	bad := apiError("invalidSignature", err, count, "ListClusters", before)
	if bad["code"] != "InvalidSignatureException" {
		fail("invalidSignature", "ErrorCode() = %q, expected InvalidSignatureException (%v)", bad["code"], err)
	}
	result["invalidSignature"] = bad

	// the same call with the right key works
	clusters, err := client.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(clusters.ClusterArns) == 0 {
		fail("listClusters", "err %v, clusters %v", err, clusters)
	}
	result["listClusters"] = clusters.ClusterArns

	// DescribeClusters: an unknown name is a failure (MISSING) in a 200 answer, not an error
	dc, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{cluster, "nope"},
		Include: []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings, types.ClusterFieldStatistics}})
	if err != nil {
		fail("describeClusters", "%v", err)
	}
	if len(dc.Clusters) != 1 || aws.ToString(dc.Clusters[0].ClusterName) != cluster || len(dc.Failures) != 1 ||
		aws.ToString(dc.Failures[0].Reason) != "MISSING" {
		fail("describeClusters", "expected [main] and one MISSING failure, got %d clusters, failures %+v", len(dc.Clusters), dc.Failures)
	}
	result["describeClusters"] = map[string]any{"status": aws.ToString(dc.Clusters[0].Status),
		"registeredContainerInstancesCount": dc.Clusters[0].RegisteredContainerInstancesCount,
		"failure":                           map[string]string{"arn": aws.ToString(dc.Failures[0].Arn), "reason": aws.ToString(dc.Failures[0].Reason)}}
	result["requests"] = count.sent
	result["ok"] = true
}

func sdkVersions() map[string]string {
	versions := map[string]string{"go": "?"}
	if info, ok := debug.ReadBuildInfo(); ok {
		versions["go"] = info.GoVersion
		for _, dep := range info.Deps {
			switch dep.Path {
			case "github.com/aws/aws-sdk-go-v2", "github.com/aws/aws-sdk-go-v2/service/ecs", "github.com/aws/smithy-go":
				versions[dep.Path] = dep.Version
			}
		}
	}
	return versions
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(failure)
				if !ok {
					f = failure{"panic", fmt.Sprintf("%v\n%s", r, debug.Stack())}
				}
				result["ok"] = false
				result["failure"] = map[string]string{"step": f.step, "message": f.msg}
				fmt.Fprintf(os.Stderr, "FAILED at %s: %s\n", f.step, f.msg)
				code = 1
			}
		}()
		run(ctx)
	}()
	line, err := json.Marshal(result)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot encode the result: %v\n", err)
		os.Exit(2)
	}
	fmt.Println(string(line))
	os.Exit(code)
}
