package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * {@code megalith spark-check} on the embedded local Spark (under spark-submit it is checked by
 * {@code src/test/scripts/standalone-cluster.sh check}).
 */
class SparkCheckCommandTest {
    @Test
    void threeLocalRanksExchangeAddressesAndAgree() {
        PrintStream stdout = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            exit = Megalith.run("spark-check", "--ranks", "3");
        } finally {
            System.setOut(stdout);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertThat(exit).as(text).isZero();
        assertThat(text).contains("megalith: spark-check: 3 ranks on local[3]",
                "rank 0: executor driver on 127.0.0.1", "rank 2: executor driver on 127.0.0.1",
                "spark-check ok: 3 ranks in 1 executor JVM(s) agree on 3 addresses and one job secret");
    }
}
