// The s3rver runner lives with the cluster scripts so the benchmark (built from scripts/) can use it too.
export * from '../../scripts/cluster/s3-server.js';
