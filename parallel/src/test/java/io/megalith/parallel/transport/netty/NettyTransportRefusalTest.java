package io.megalith.parallel.transport.netty;

import static io.megalith.parallel.transport.netty.TestSupport.SECRET;
import static io.megalith.parallel.transport.netty.TestSupport.WRONG_SECRET;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.parallel.transport.netty.Control.Challenge;
import io.megalith.parallel.transport.netty.Control.Reject;
import io.netty.buffer.Unpooled;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * An unauthenticated peer learns nothing from how it is refused: a wrong job id, secret, world size or
 * rank all get a challenge and then the very same refusal bytes; only the local log says which it was.
 */
class NettyTransportRefusalTest {
    private static final String JOB = "refusal-job";

    @Test
    void everyHandshakeFailureGetsTheSameAnswersAndByteIdenticalRefusals() {
        try (Cluster c = Cluster.start(3, JOB)) {
            int port = c.rank(2).address().port(); // ranks 0 and 1 have connected to it
            Map<String, Object[]> attempts = new LinkedHashMap<>(); // why it must fail -> {jobId, secret, world, from, to}
            attempts.put("job id mismatch (peer sent 'other-job')", new Object[] {"other-job", SECRET, 3, 0, 2});
            attempts.put("the proof of rank 0 does not match", new Object[] {JOB, WRONG_SECRET, 3, 0, 2});
            attempts.put("hello addressed to rank 1, this is rank 2", new Object[] {JOB, SECRET, 3, 0, 1});
            attempts.put("world size mismatch (peer has 4, this job 3)", new Object[] {JOB, SECRET, 4, 0, 2});
            attempts.put("rank 2 may not dial rank 2", new Object[] {JOB, SECRET, 3, 2, 2});
            attempts.put("rank 0 is already connected", new Object[] {JOB, SECRET, 3, 0, 2});
            byte[] firstRefusal = null;
            int challengeLength = -1;
            for (Map.Entry<String, Object[]> a : attempts.entrySet()) {
                Object[] v = a.getValue();
                long mark = TestSupport.logSize();
                try (RawPeer raw = new RawPeer(port)) {
                    byte[][] frames = raw.handshakeFrames((String) v[0], (byte[]) v[1], (int) v[2], (int) v[3], (int) v[4]);
                    assertThat(frames).as("%s: a challenge, then an answer", a.getKey()).hasNumberOfRows(2);
                    assertThat(decode(frames[0])).isInstanceOf(Challenge.class);
                    if (challengeLength < 0) challengeLength = frames[0].length;
                    assertThat(frames[0]).as("%s: challenge length", a.getKey()).hasSize(challengeLength);
                    assertThat(decode(frames[1])).isEqualTo(new Reject(PeerHandler.REFUSAL));
                    if (firstRefusal == null) firstRefusal = frames[1];
                    assertThat(frames[1]).as("%s: refusal bytes", a.getKey()).isEqualTo(firstRefusal);
                    assertThat(raw.millisUntilClosed(2000)).as("%s: closed after the refusal", a.getKey()).isNotNegative();
                    // the reason is in rank 2's own log, with the peer's address
                    TestSupport.awaitLogLine(mark, 2000, "WARN", "rank 2: refused connection from /127.0.0.1:" + raw.localPort(), a.getKey());
                }
            }
            TestSupport.assertExchange(c.rank(0), c.rank(2), 4096); // nothing of it disturbed the job
        }
    }

    private static Object decode(byte[] frame) {
        assertThat(frame[4]).isEqualTo(Frames.CONTROL);
        return new ControlCodec().decode(Unpooled.wrappedBuffer(frame, 5, frame.length - 5));
    }
}
