module iodb.dev/iodb

go 1.19
