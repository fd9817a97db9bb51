package io.megalith.launcher.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import org.junit.jupiter.api.Test;

class JobSecretTest {
    @Test
    void printsNothingOfItsValue() {
        JobSecret s = JobSecret.random();
        assertThat(s.toString()).isEqualTo("JobSecret[redacted]");
        for (String form : SecretLeakCheck.encodings(s.bytes())) {
            assertThat(s.toString()).doesNotContain(form);
            assertThat(s.fingerprint()).doesNotContain(form);
        }
    }

    @Test
    void randomSecretsDifferAndBytesAreCopies() {
        JobSecret a = JobSecret.random();
        assertThat(a.bytes()).hasSize(32).isNotEqualTo(JobSecret.random().bytes());
        a.bytes()[0]++;
        assertThat(a.matches(a.bytes())).isTrue();
        assertThat(a.fingerprint()).hasSize(16).isEqualTo(JobSecret.of(a.bytes()).fingerprint())
                .isNotEqualTo(JobSecret.random().fingerprint());
        assertThatThrownBy(() -> JobSecret.of(new byte[16])).hasMessageContaining("32 bytes, not 16");
    }

    @Test
    void survivesJavaSerialization() throws Exception {
        JobSecret a = JobSecret.random();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(buf)) {
            out.writeObject(a);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(buf.toByteArray()))) {
            JobSecret b = (JobSecret) in.readObject();
            assertThat(b.matches(a.bytes())).isTrue();
            assertThat(b).isNotSameAs(a);
        }
    }
}
