package io.megalith.launcher.data;

import static io.megalith.launcher.data.PrepFixtures.allTokens;
import static io.megalith.launcher.data.PrepFixtures.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.data.Batch;
import io.megalith.core.data.TextData;
import io.megalith.core.data.shards.ShardIndex;
import io.megalith.core.data.shards.ShardSetWriter;
import io.megalith.core.data.shards.ShardedTextData;
import io.megalith.core.data.shards.TokenShards;
import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.launcher.spark.LocalSpark;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** Data preparation on local files with Spark local[2] (one Spark for the class: starting one costs seconds). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DataPreparationTest {
    private LocalSpark spark;
    private Configuration conf;
    private final PrepFixtures.JobLog jobs = new PrepFixtures.JobLog();

    @TempDir
    Path tmp;

    @BeforeAll
    void startSpark() {
        spark = LocalSpark.start(2);
        spark.session().sparkContext().addSparkListener(jobs);
        conf = spark.session().sparkContext().hadoopConfiguration();
    }

    @AfterAll
    void stopSpark() {
        if (spark != null) {
            spark.close();
        }
    }

    private DataPreparation.Result prepare(String path, String runDir, int partitions, String... overrides)
            throws Exception {
        return new DataPreparation(config(path, runDir, overrides), spark.session()).minPartitions(partitions)
                .console(new PrepFixtures.Console().out).run();
    }

    @Test
    void aTextFileGivesExactlyTheTokensOfTokenizingTheWholeText() throws Exception {
        String text = PrepFixtures.text(3000, 1);
        Path input = Files.writeString(tmp.resolve("input.txt"), text);
        DataPreparation.Result r = prepare(input.toString(), tmp.resolve("run").toString(), 4);

        CharTokenizer whole = CharTokenizer.fit(text);
        assertThat(r.reused()).isFalse();
        assertThat(r.dir()).endsWith("/run/data");
        assertThat(r.shards()).as("one shard per Spark partition").isGreaterThanOrEqualTo(4);
        assertThat(r.documents()).isEqualTo(3000); // lines
        assertThat(allTokens(r.dir(), conf)).containsExactly(whole.encode(text));
        TokenShards shards = TokenShards.open(r.dir(), conf);
        try (Tokenizer tok = shards.tokenizer()) {
            assertThat(((CharTokenizer) tok).alphabet()).isEqualTo(whole.alphabet());
        }
        ShardIndex ix = shards.index();
        assertThat(ix.dtype()).isEqualTo("uint16");
        assertThat(ix.input().path("files").get(0).path("bytes").asLong()).isEqualTo(Files.size(input));
        assertThat(ix.input().path("format").asText()).isEqualTo("text");

        // the samples ranks read are those of the text tokenized in one piece
        TextData reference = new TextData(whole, whole.encode(text), 0.1, 32, 7);
        try (ShardedTextData sharded = ShardedTextData.open(r.dir(), conf, 0.1, 32, 7)) {
            for (long step = 0; step < 50; step++) {
                Batch a = reference.train(step, 2, 5);
                assertThat(sharded.train(step, 2, 5).inputs()).containsExactly(a.inputs());
            }
            assertThat(sharded.validation(3, 4).targets()).containsExactly(reference.validation(3, 4).targets());
        }
    }

    @Test
    void aFileWithoutAFinalNewlineGetsOne() throws Exception {
        Path input = Files.writeString(tmp.resolve("no-newline.txt"), "ab\nba\nabba");
        DataPreparation.Result r = prepare(input.toString(), tmp.resolve("run-nl").toString(), 2);
        assertThat(allTokens(r.dir(), conf)).containsExactly(CharTokenizer.fit("ab\nba\nabba\n").encode("ab\nba\nabba\n"));
    }

    @Test
    void aDirectoryIsReadRecursivelyInPathOrderSkippingHiddenFiles() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("corpus"));
        Files.createDirectories(dir.resolve("c"));
        Files.createDirectories(dir.resolve("_temporary"));
        Map<String, String> files = new TreeMap<>(Map.of("b.txt", PrepFixtures.text(200, 2),
                "a.txt", PrepFixtures.text(300, 3), "c/d.txt", PrepFixtures.text(100, 4)));
        for (Map.Entry<String, String> f : files.entrySet()) {
            Files.writeString(dir.resolve(f.getKey()), f.getValue());
        }
        Files.writeString(dir.resolve("_SUCCESS"), "");
        Files.writeString(dir.resolve(".a.txt.crc"), "XXX");
        Files.writeString(dir.resolve("_temporary/x.txt"), "ZZZ");
        String expected = String.join("", files.values()); // a, b, c/d: path order

        DataPreparation.Result r = prepare(dir.toString(), tmp.resolve("run-dir").toString(), 5);
        CharTokenizer tok = CharTokenizer.fit(expected);
        assertThat(allTokens(r.dir(), conf)).containsExactly(tok.encode(expected));
        assertThat(r.shards()).isGreaterThanOrEqualTo(5);

        // a glob picks files the same way
        DataPreparation.Result g = prepare(dir + "/*.txt", tmp.resolve("run-glob").toString(), 2);
        String ab = files.get("a.txt") + files.get("b.txt");
        assertThat(allTokens(g.dir(), conf)).containsExactly(CharTokenizer.fit(ab).encode(ab));
    }

    @Test
    void jsonLinesDocumentsAreTheTextFieldOfEachRecord() throws Exception {
        List<String> docs = IntStream.range(0, 400).mapToObj(i -> "doc " + i + " says \"hi\"\nüber " + (i * 7))
                .toList();
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < docs.size(); i++) {
            String escaped = docs.get(i).replace("\"", "\\\"").replace("\n", "\\n");
            jsonl.append("{\"id\": ").append(i).append(", \"body\": \"").append(escaped).append("\"}\n");
            if (i == 10) {
                jsonl.append("{\"id\": -1, \"body\": null}\n").append("\n").append("{\"id\": -2}\n");
            }
        }
        Path input = Files.writeString(tmp.resolve("docs.jsonl"), jsonl);
        PrepFixtures.Console console = new PrepFixtures.Console();
        DataPreparation.Result r = new DataPreparation(config(input.toString(), tmp.resolve("run-jsonl").toString(),
                "data.text_field=body"), spark.session()).minPartitions(3).console(console.out).run();

        String expected = docs.stream().map(d -> d + "\n").collect(Collectors.joining());
        assertThat(allTokens(r.dir(), conf)).containsExactly(CharTokenizer.fit(expected).encode(expected));
        assertThat(r.documents()).isEqualTo(400);
        assertThat(r.skippedDocuments()).isEqualTo(3); // null, blank line, missing field
        assertThat(console.text()).contains("skipped 3 records without text");

        Files.writeString(tmp.resolve("bad.jsonl"), "{\"body\": \"ok\"}\n{\"body\": 42}\n");
        assertThatThrownBy(() -> prepare(tmp.resolve("bad.jsonl").toString(), tmp.resolve("run-bad").toString(), 1,
                "data.text_field=body")).hasStackTraceContaining("data.text_field 'body' is NUMBER, not a string");
        assertThat(tmp.resolve("run-bad/data")).doesNotExist();
    }

    @Test
    void parquetDocumentsAreTheTextColumnInFileAndRowOrder() throws Exception {
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);
        Path root = tmp.resolve("parquet");
        List<String> expected = new ArrayList<>();
        int id = 0;
        // three files of different sizes: Spark packs small files together, largest first, so partitions hold
        // several files and not in path order; the stream must still follow the paths
        for (String part : new String[] {"a", "b", "c"}) {
            List<Row> rows = new ArrayList<>();
            int n = part.equals("b") ? 900 : 150;
            for (int i = 0; i < n; i++, id++) {
                String t = i % 50 == 7 ? null : part + " row " + i + (i % 3 == 0 ? " ünï" : "");
                rows.add(RowFactory.create(id, t));
                if (t != null) {
                    expected.add(t + "\n");
                }
            }
            spark.session().createDataFrame(rows, schema).coalesce(1).write().parquet(root.resolve(part).toString());
        }
        assertThat(spark.session().read().parquet(root + "/*/*.parquet").javaRDD().getNumPartitions())
                .as("the premise: a partition holds several files").isLessThan(3);
        DataPreparation.Result r = prepare(root.toString(), tmp.resolve("run-parquet").toString(), 2);
        String text = String.join("", expected);
        assertThat(allTokens(r.dir(), conf)).containsExactly(CharTokenizer.fit(text).encode(text));
        assertThat(r.shards()).as("one piece per file").isEqualTo(3);
        assertThat(r.skippedDocuments()).isEqualTo(3 + 18 + 3);

        assertThatThrownBy(() -> prepare(root.toString(), tmp.resolve("run-pq-bad").toString(), 2,
                "data.text_field=id")).hasMessageContaining("column 'id' is int, not a string");
        assertThatThrownBy(() -> prepare(root.toString(), tmp.resolve("run-pq-bad").toString(), 2,
                "data.text_field=body")).hasMessageContaining("no column 'body'").hasMessageContaining("id, text");
    }

    @Test
    void bpeIsTrainedOnTheTrainingPartAndEachLineIsEncodedOnItsOwn() throws Exception {
        String text = PrepFixtures.text(1500, 5);
        Path input = Files.writeString(tmp.resolve("bpe.txt"), text);
        DataPreparation.Result r = prepare(input.toString(), tmp.resolve("run-bpe").toString(), 3,
                "data.tokenizer=bpe", "data.bpe_vocab_size=300");

        String trainPart = text.substring(0, (int) Math.round(text.length() * 0.9)); // as TrainingRun does
        try (BpeTokenizer reference = BpeTokenizer.train(trainPart, 300);
                Tokenizer prepared = TokenShards.open(r.dir(), conf).tokenizer()) {
            assertThat(Tokenizers.toBytes(prepared)).isEqualTo(Tokenizers.toBytes(reference));
            List<Integer> expected = new ArrayList<>();
            String[] lines = text.split("\n", -1); // the last element is the "" after the final newline
            for (int i = 0; i < lines.length - 1; i++) {
                for (int t : reference.encode(lines[i] + "\n")) {
                    expected.add(t);
                }
            }
            int[] tokens = allTokens(r.dir(), conf);
            assertThat(tokens).containsExactly(expected.stream().mapToInt(Integer::intValue).toArray());
            assertThat(prepared.decode(tokens)).isEqualTo(text);
            assertThat(tokens.length).isLessThan(text.length() / 2); // merges were learned and used
        }

        // a bounded sample: another tokenizer, the same whatever the partitioning
        DataPreparation.Result s2 = new DataPreparation(config(input.toString(), tmp.resolve("run-s2").toString(),
                "data.tokenizer=bpe", "data.bpe_vocab_size=300"), spark.session()).minPartitions(2)
                .bpeSampleChars(4000).console(new PrepFixtures.Console().out).run();
        DataPreparation.Result s5 = new DataPreparation(config(input.toString(), tmp.resolve("run-s5").toString(),
                "data.tokenizer=bpe", "data.bpe_vocab_size=300"), spark.session()).minPartitions(5)
                .bpeSampleChars(4000).console(new PrepFixtures.Console().out).run();
        String sha2 = TokenShards.inspect(s2.dir(), conf).tokenizer().sha256();
        assertThat(TokenShards.inspect(s5.dir(), conf).tokenizer().sha256()).isEqualTo(sha2);
        assertThat(TokenShards.inspect(r.dir(), conf).tokenizer().sha256()).isNotEqualTo(sha2);
        assertThat(s2.fingerprint()).isNotEqualTo(r.fingerprint());
        try (Tokenizer sampled = TokenShards.open(s5.dir(), conf).tokenizer()) {
            assertThat(sampled.decode(allTokens(s5.dir(), conf))).isEqualTo(text);
        }
    }

    @Test
    void aCachedDataSetIsReusedWithoutSparkOrWritesAndAChangedInputIsPreparedAgain() throws Exception {
        Path input = Files.writeString(tmp.resolve("cached.txt"), PrepFixtures.text(500, 6));
        String cache = tmp.resolve("cache").toString();
        DataPreparation.Result first = prepare(input.toString(), tmp.resolve("run-a").toString(), 2,
                "data.cache_dir=" + cache);
        assertThat(first.reused()).isFalse();
        assertThat(first.dir()).endsWith("/cache/" + first.fingerprint().substring(0, 16));
        Map<String, FileTime> before = mtimes(Path.of(URI.create(first.dir())));

        // another run (another run.dir) with the same input: nothing to do
        PrepFixtures.Console console = new PrepFixtures.Console();
        DataPreparation.Result[] second = new DataPreparation.Result[1];
        List<String> jobsRun = jobs.jobsDuring(spark.session().sparkContext(), () -> second[0] = new DataPreparation(
                config(input.toString(), tmp.resolve("run-b").toString(), "data.cache_dir=" + cache), spark.session())
                .console(console.out).run());
        assertThat(jobsRun).as("Spark jobs of a reused preparation").isEmpty();
        assertThat(second[0].reused()).isTrue();
        assertThat(second[0].dir()).isEqualTo(first.dir());
        assertThat(console.text()).contains("input unchanged").contains("nothing to prepare");
        assertThat(mtimes(Path.of(URI.create(first.dir())))).isEqualTo(before);

        // a preparation that does run shows its jobs (so the empty list above means something)
        Files.writeString(input, "appended line\n", StandardOpenOption.APPEND);
        DataPreparation.Result[] third = new DataPreparation.Result[1];
        List<String> jobsThird = jobs.jobsDuring(spark.session().sparkContext(),
                () -> third[0] = prepare(input.toString(), tmp.resolve("run-c").toString(), 2, "data.cache_dir=" + cache));
        assertThat(jobsThird).contains("megalith data: tokenizer", "megalith data: tokenize");
        assertThat(third[0].reused()).isFalse();
        assertThat(third[0].fingerprint()).isNotEqualTo(first.fingerprint());
        String now = Files.readString(input);
        assertThat(allTokens(third[0].dir(), conf)).containsExactly(CharTokenizer.fit(now).encode(now));
    }

    @Test
    void inTheRunDirectoryAChangedInputReplacesTheDataSet() throws Exception {
        Path input = Files.writeString(tmp.resolve("rundir.txt"), "abc\n".repeat(100));
        String run = tmp.resolve("run-replace").toString();
        DataPreparation.Result a = prepare(input.toString(), run, 2);
        assertThat(prepare(input.toString(), run, 2).reused()).isTrue();
        Files.writeString(input, "xyz\n".repeat(50));
        DataPreparation.Result b = prepare(input.toString(), run, 2);
        assertThat(b.reused()).isFalse();
        assertThat(b.dir()).isEqualTo(a.dir());
        assertThat(allTokens(b.dir(), conf)).hasSize(200);
        try (Stream<Path> s = Files.list(tmp.resolve("run-replace"))) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactly("data"); // no leftovers
        }
    }

    static final AtomicInteger SHARDS_BEFORE_CRASH = new AtomicInteger();
    static final AtomicBoolean DESTINATION_VISIBLE_AT_CRASH = new AtomicBoolean(true);

    @Test
    void aPreparationThatCrashesMidwayLeavesNothingVisible() throws Exception {
        Path input = Files.writeString(tmp.resolve("crash.txt"), PrepFixtures.text(2000, 8));
        Path run = tmp.resolve("run-crash");
        String dest = run.resolve("data").toString();
        SHARDS_BEFORE_CRASH.set(0);
        assertThatThrownBy(() -> new DataPreparation(config(input.toString(), run.toString()), spark.session())
                .minPartitions(4).console(new PrepFixtures.Console().out).afterEachShard((partition, shard) -> {
                    SHARDS_BEFORE_CRASH.incrementAndGet();
                    if (partition == 2) { // a shard is written, the preparation is not finished: crash here
                        DESTINATION_VISIBLE_AT_CRASH.set(Files.exists(Path.of(dest)));
                        throw new IllegalStateException("simulated crash after a shard");
                    }
                }).run()).hasStackTraceContaining("simulated crash after a shard");
        assertThat(SHARDS_BEFORE_CRASH.get()).isGreaterThanOrEqualTo(1);
        assertThat(DESTINATION_VISIBLE_AT_CRASH.get()).isFalse();
        assertThat(Path.of(dest)).doesNotExist();
        try (Stream<Path> s = Files.list(run)) {
            assertThat(s.toList()).as("the temporary was removed").isEmpty();
        }

        // a driver killed outright leaves its hidden temporary; the next preparation ignores it, then removes it
        ShardSetWriter.begin(dest, conf);
        DataPreparation.Result r = prepare(input.toString(), run.toString(), 4);
        assertThat(r.reused()).isFalse();
        String text = Files.readString(input);
        assertThat(allTokens(r.dir(), conf)).containsExactly(CharTokenizer.fit(text).encode(text));
        try (Stream<Path> s = Files.list(run)) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactly("data");
        }
    }

    @Test
    void unknownPathsAndMixedFormatsAreReportedBeforeAnySparkJob() throws Exception {
        assertThatThrownBy(() -> prepare(tmp.resolve("nope.txt").toString(), tmp.resolve("r").toString(), 2))
                .hasMessageContaining("data.path: no such file or directory");
        Path mixed = Files.createDirectories(tmp.resolve("mixed"));
        Files.writeString(mixed.resolve("a.txt"), "a\n");
        Files.writeString(mixed.resolve("b.jsonl"), "{\"text\":\"b\"}\n");
        assertThatThrownBy(() -> prepare(mixed.toString(), tmp.resolve("r").toString(), 2))
                .hasMessageContaining("files of several formats").hasMessageContaining("set data.format");
        // with the format given, both are read as text
        DataPreparation.Result r = prepare(mixed.toString(), tmp.resolve("r").toString(), 2, "data.format=text");
        String both = "a\n{\"text\":\"b\"}\n";
        assertThat(allTokens(r.dir(), conf)).containsExactly(CharTokenizer.fit(both).encode(both));
    }

    private static Map<String, FileTime> mtimes(Path dir) throws Exception {
        Map<String, FileTime> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                m.put(dir.relativize(p).toString(), Files.getLastModifiedTime(p));
            }
        }
        assertThat(m).containsKeys("index.json", "tokenizer.json", "tokens-00000.bin");
        return m;
    }
}
