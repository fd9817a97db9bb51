package io.megalith.launcher.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.LongWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapred.FileInputFormat;
import org.apache.hadoop.mapred.FileSplit;
import org.apache.hadoop.mapred.JobConf;
import org.apache.hadoop.mapred.TextInputFormat;
import org.apache.spark.api.java.JavaHadoopRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.paths.SparkPath;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import scala.Tuple2;

/**
 * Reads the input as {@link Doc}s, each tagged with where it is, so that pieces can be put in stream order (see
 * {@link Pieces}). Text and JSON Lines go through Hadoop's {@code TextInputFormat} (one partition per file split,
 * lines with their byte offsets; JSON is parsed on the executors); Parquet through Spark SQL, with each row's file
 * and row index from the {@code _metadata} column. Nothing relies on the order in which Spark lists files or
 * packs them into partitions.
 */
final class DocReader {
    private DocReader() {}

    /**
     * @param minPartitions for text and JSON Lines, Hadoop's minimum number of splits (small inputs are cut into
     *     this many; large ones by block size). Parquet follows {@code spark.sql.files.maxPartitionBytes}.
     */
    static JavaRDD<Doc> read(SparkSession spark, InputSpec spec, int minPartitions) {
        Map<String, Integer> fileIndex = new HashMap<>();
        List<InputSpec.InputFile> files = spec.files();
        for (int i = 0; i < files.size(); i++) {
            fileIndex.put(key(new Path(files.get(i).path())), i);
        }
        return "parquet".equals(spec.format()) ? parquet(spark, spec, fileIndex) : lines(spark, spec, fileIndex,
                minPartitions);
    }

    private static JavaRDD<Doc> lines(SparkSession spark, InputSpec spec, Map<String, Integer> fileIndex,
            int minPartitions) {
        JobConf job = new JobConf(spark.sparkContext().hadoopConfiguration());
        // Lines end at "\n" only: a "\r" stays in the line, so lines + "\n" give back the file's exact characters
        // (Hadoop's default also ends lines at "\r" and drops it).
        job.set("textinputformat.record.delimiter", "\n");
        FileInputFormat.setInputPaths(job, spec.files().stream().map(f -> new Path(f.path())).toArray(Path[]::new));
        @SuppressWarnings("unchecked")
        JavaHadoopRDD<LongWritable, Text> rdd = (JavaHadoopRDD<LongWritable, Text>) JavaSparkContext
                .fromSparkContext(spark.sparkContext())
                .hadoopRDD(job, TextInputFormat.class, LongWritable.class, Text.class, minPartitions);
        boolean jsonl = "jsonl".equals(spec.format());
        String field = spec.textField();
        return rdd.mapPartitionsWithInputSplit((split, it) -> {
            Path path = ((FileSplit) split).getPath();
            Integer file = fileIndex.get(key(path));
            if (file == null) {
                throw new IllegalStateException("split of an unlisted file " + path);
            }
            return new Iterator<Doc>() {
                @Override
                public boolean hasNext() {
                    return it.hasNext();
                }

                @Override
                public Doc next() {
                    Tuple2<LongWritable, Text> kv = it.next(); // Hadoop reuses both objects: copy out now
                    long pos = kv._1().get();
                    String line = kv._2().toString();
                    long next = pos + kv._2().getLength() + 1;
                    return new Doc(file, pos, next, jsonl ? JsonText.of(line, field, path, pos) : line);
                }
            };
        }, true);
    }

    private static JavaRDD<Doc> parquet(SparkSession spark, InputSpec spec, Map<String, Integer> fileIndex) {
        Dataset<Row> df = spark.read().parquet(spec.files().stream().map(InputSpec.InputFile::path).toArray(String[]::new));
        String field = spec.textField();
        StructField column = null;
        for (StructField f : df.schema().fields()) {
            column = f.name().equals(field) ? f : column;
        }
        if (column == null) {
            throw new IllegalArgumentException("data.text_field: no column '" + field + "' in the Parquet input; "
                    + "columns: " + String.join(", ", df.schema().fieldNames()));
        }
        if (!column.dataType().equals(DataTypes.StringType)) {
            throw new IllegalArgumentException("data.text_field: column '" + field + "' is "
                    + column.dataType().simpleString() + ", not a string");
        }
        return df.select(functions.col("`" + field + "`"), functions.col("_metadata.file_path"),
                functions.col("_metadata.row_index")).javaRDD().map(row -> {
                    Integer file = fileIndex.get(key(SparkPath.fromUrlString(row.getString(1)).toPath()));
                    if (file == null) {
                        throw new IllegalStateException("row of an unlisted file " + row.getString(1));
                    }
                    long r = row.getLong(2);
                    return new Doc(file, r, r + 1, row.isNullAt(0) ? null : row.getString(0));
                });
    }

    /**
     * A file's identity, the same for the listing, Hadoop's splits and Spark's {@code _metadata.file_path} (which
     * spell scheme and authority differently: {@code file:/x} and {@code file:///x}): the path part of its URI.
     */
    static String key(Path path) {
        return path.toUri().getPath();
    }

    /** The text field of one JSON line. */
    static final class JsonText {
        private static final ObjectMapper JSON = new ObjectMapper();

        private JsonText() {}

        /** The field's text; null if the line is blank or the field null or missing. */
        static String of(String line, String field, Path file, long pos) {
            if (line.isBlank()) {
                return null;
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (IOException e) {
                throw new UncheckedIOException("not JSON: " + file + " at byte " + pos + ": " + e.getMessage(), e);
            }
            if (node == null || !node.isObject()) {
                throw new IllegalArgumentException("not a JSON object: " + file + " at byte " + pos);
            }
            JsonNode v = node.get(field);
            if (v == null || v.isNull()) {
                return null;
            }
            if (!v.isTextual()) {
                throw new IllegalArgumentException("data.text_field '" + field + "' is " + v.getNodeType()
                        + ", not a string: " + file + " at byte " + pos);
            }
            return v.textValue();
        }
    }
}
