// Drives bolink through Bolink.cs against a cloud (bolink-sim in the tests): init, an entry, the
// cloud's query_price answered from the receive handler, the exit, and calls that must fail.
//
// Input: BOLINK_INIT_JSON (the init JSON) and BOLINK_ORDER_ID (the order to use).
// Prints what it does; exits 1 on the first failure.

using System;
using System.Threading;

using Bolink;

internal static class BolinkTest
{
    private static readonly ManualResetEvent PriceAnswered = new ManualResetEvent(false);
    private static int handlerFailures;
    private static string handlerProblem;

    private static int Main()
    {
        try
        {
            Run();
            Console.WriteLine("csharp: all steps passed");
            return 0;
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL: " + e.Message);
            return 1;
        }
    }

    private static void Run()
    {
        string init = Environment.GetEnvironmentVariable("BOLINK_INIT_JSON");
        string orderId = Environment.GetEnvironmentVariable("BOLINK_ORDER_ID");
        if (init == null || orderId == null)
        {
            throw new Exception("BOLINK_INIT_JSON and BOLINK_ORDER_ID must be set");
        }

        UploadUtil.CheckLibrary();
        Console.WriteLine("library: " + UploadUtil.Version + ", ABI " + UploadUtil.AbiVersion);

        ExpectError("Init(null)", UploadUtil.Init(null), "NULL");
        ExpectError("Init(malformed)", UploadUtil.Init("{\"union_id\":"), "JSON");
        ExpectOk("Init", UploadUtil.Init(init));
        ExpectError("Init again", UploadUtil.Init(init), "sdk has been initialized!");

        UploadUtil.HandlerFailed += delegate(Exception error, string json)
        {
            Interlocked.Increment(ref handlerFailures);
            Console.WriteLine("handler failure reported: " + error.Message + " on " + json);
        };
        UploadUtil.SetReceiveHandler(OnMessage);

        ExpectOk("UploadInParkOrder", UploadUtil.UploadInParkOrder(
            "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"car_type\":\"小车\"," +
            "\"c_type\":\"通道扫牌\",\"uid\":\"100\",\"order_id\":\"" + orderId + "\"," +
            "\"empty_plot\":20,\"in_channel_id\":\"A1\"}"));

        ExpectError("UploadInParkOrder(null)", UploadUtil.UploadInParkOrder(null), "NULL");
        ExpectError("UploadInParkOrder(missing fields)",
            UploadUtil.UploadInParkOrder("{\"car_number\":\"京A1\"}"), "missing required field");
        ExpectError("UploadData(no data_target)",
            UploadUtil.UploadData("{\"service_name\":\"park_log\"}"), "data_target");
        ExpectError("GetPayStatus(wrong service_name)",
            UploadUtil.GetPayStatus("{\"service_name\":\"x\",\"car_number\":\"京A1\"}"),
            "pay_status");

        Console.WriteLine("waiting for the cloud's query_price");
        if (!PriceAnswered.WaitOne(TimeSpan.FromSeconds(30)))
        {
            throw new Exception("no query_price was answered within 30 s");
        }
        if (handlerProblem != null)
        {
            throw new Exception(handlerProblem);
        }
        if (Thread.VolatileRead(ref handlerFailures) != 1)
        {
            throw new Exception("the handler's exception was not reported exactly once");
        }

        ExpectOk("UploadOutParkOrder", UploadUtil.UploadOutParkOrder(
            "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"out_time\":1700003600," +
            "\"uid\":\"100\",\"pay_type\":\"cash\",\"empty_plot\":21,\"total\":\"5.00\"," +
            "\"order_id\":\"" + orderId + "\",\"car_type\":\"小车\",\"c_type\":\"通道扫牌\"," +
            "\"out_uid\":\"100\",\"amount_receivable\":\"5.00\"}"));

        WaitUntilSent();
        UploadUtil.SetReceiveHandler(null);
        ExpectOk("UnInit", UploadUtil.UnInit());
        ExpectError("UploadData after UnInit",
            UploadUtil.UploadData("{\"service_name\":\"park_log\",\"data_target\":\"cloud\"}"),
            "not initialized");
    }

    private static void OnMessage(string json)
    {
        Console.WriteLine("receive: " + json);
        if (json.Contains("\"service_name\":\"test_throw\""))
        {
            throw new InvalidOperationException("receiver failed on purpose");
        }
        if (!json.Contains("\"service_name\":\"query_price\""))
        {
            return;
        }
        string reply = "{\"service_name\":\"query_price\",\"data_target\":\"bolink\",\"state\":1," +
            "\"errmsg\":\"\",\"query_order_no\":\"" + Field(json, "query_order_no") + "\"," +
            "\"order_id\":\"" + Field(json, "order_id") + "\",\"price\":\"5.00\"," +
            "\"total\":\"5.00\",\"duration\":60,\"free_out_time\":15," +
            "\"query_time\":1700003600,\"derate_money\":\"0.00\",\"derate_duration\":0}";
        string answer = UploadUtil.UploadData(reply);
        Console.WriteLine("reply query_price -> " + answer);
        if (!answer.Contains("\"state\":1"))
        {
            handlerProblem = "the reply was refused: " + answer;
        }
        PriceAnswered.Set();
    }

    /// <summary>Waits until the outbox is empty, so UnInit loses nothing.</summary>
    private static void WaitUntilSent()
    {
        string status = null;
        for (int i = 0; i < 2000; i++)
        {
            status = UploadUtil.Status();
            if (status.Contains("\"pending\":0,"))
            {
                Console.WriteLine("Status -> " + status);
                return;
            }
            Thread.Sleep(10);
        }
        throw new Exception("the outbox did not empty within 20 s: " + status);
    }

    /// <summary>The string value of a top-level key in a flat JSON message.</summary>
    private static string Field(string json, string key)
    {
        string pattern = "\"" + key + "\":\"";
        int start = json.IndexOf(pattern, StringComparison.Ordinal);
        if (start < 0)
        {
            throw new Exception("no " + key + " in " + json);
        }
        start += pattern.Length;
        return json.Substring(start, json.IndexOf('"', start) - start);
    }

    private static void ExpectOk(string what, string answer)
    {
        Console.WriteLine(what + " -> " + answer);
        if (answer == null || !answer.Contains("\"state\":1"))
        {
            throw new Exception(what + " failed: " + answer);
        }
    }

    private static void ExpectError(string what, string answer, string reason)
    {
        Console.WriteLine(what + " -> " + answer);
        if (answer == null || !answer.Contains("\"state\":0") || !answer.Contains(reason))
        {
            throw new Exception(what + " should fail naming \"" + reason + "\": " + answer);
        }
    }
}
