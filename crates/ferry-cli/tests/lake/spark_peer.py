"""PySpark reading a Hive table through the metastore, as the files tests'
independent reader of what Ferry registered.

    spark_peer.py HMS_ADDR DATABASE.TABLE   prints JSON: partitions, rows per
                                            partition, count, sum and distinct ids
"""
import json
import os
import sys
import tempfile

from pyspark.sql import SparkSession

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
hms, table = sys.argv[1], sys.argv[2]
spark = (
    SparkSession.builder.master("local[1]")
    .appName("ferry-files-test")
    .config("spark.hadoop.hive.metastore.uris", f"thrift://{hms}")
    .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="ferry-spark-wh-"))
    .config("spark.ui.enabled", "false")
    .config("spark.driver.memory", "512m")
    .enableHiveSupport()
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
partitions = [r[0] for r in spark.sql(f"SHOW PARTITIONS {table}").collect()]
per = {
    r[0]: r[1]
    for r in spark.sql(f"SELECT dt, count(*) FROM {table} GROUP BY dt").collect()
}
total = spark.sql(
    f"SELECT count(*), sum(id), count(DISTINCT id), CAST(sum(amount) AS STRING) FROM {table}"
).collect()[0]
print(json.dumps({
    "partitions": partitions,
    "rows_per_partition": per,
    "rows": total[0],
    "sum_id": total[1],
    "distinct_id": total[2],
    "sum_amount": total[3],
}))
spark.stop()
