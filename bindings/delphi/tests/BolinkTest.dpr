{ Drives bolink through Bolink.pas against a cloud (bolink-sim in the tests): init, an entry, the
  cloud's query_price answered from the receive handler, the exit, and calls that must fail.

  Input: BOLINK_INIT_JSON (the init JSON) and BOLINK_ORDER_ID (the order to use).
  Prints what it does; exits 1 on the first failure. }

program BolinkTest;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$H+}
  {$CODEPAGE UTF8}
{$ENDIF}
{$IFDEF MSWINDOWS}
  {$APPTYPE CONSOLE}
{$ENDIF}

uses
  {$IFDEF FPC}{$IFDEF UNIX}
  cthreads,
  {$ENDIF}{$ENDIF}
  SysUtils,
  Bolink;

type
  { The receiver, as a billing program would write it: a method of one of its objects. }
  TPriceDesk = class
  public
    Answered: Integer;
    Problem: string;
    procedure Receive(const Json: UTF8String);
  end;

const
  { Non-ASCII text as UTF8String constants, so no conversion through UnicodeString happens. }
  Plate: UTF8String = '京A54321';
  CarType: UTF8String = '小车';
  EntryKind: UTF8String = '通道扫牌';

var
  Desk: TPriceDesk;
  HandlerFailures: Integer = 0;

{ Writes one line at once: each thread has its own output buffer, so lines printed from the
  handler would otherwise interleave with the main thread's. }
procedure Say(const Line: UTF8String);
begin
  WriteLn(Line);
  Flush(Output);
end;

procedure Fail(const Why: string);
begin
  Say('FAIL: ' + Why);
  Halt(1);
end;

function Has(const Text, Part: UTF8String): Boolean;
begin
  Result := Pos(Part, Text) > 0;
end;

procedure ExpectOk(const What: string; const Answer: UTF8String);
begin
  Say(What + ' -> ' + Answer);
  if not Has(Answer, '"state":1') then
    Fail(What + ' failed: ' + string(Answer));
end;

procedure ExpectError(const What: string; const Answer, Reason: UTF8String);
begin
  Say(What + ' -> ' + Answer);
  if not Has(Answer, '"state":0') or not Has(Answer, Reason) then
    Fail(What + ' should fail naming ' + string(Reason) + ': ' + string(Answer));
end;

{ The string value of a top-level key in a flat JSON message. }
function Field(const Json, Key: UTF8String): UTF8String;
var
  Pattern: UTF8String;
  Start, Stop: Integer;
begin
  Pattern := '"' + Key + '":"';
  Start := Pos(Pattern, Json);
  if Start = 0 then
    raise Exception.Create('no ' + string(Key) + ' in ' + string(Json));
  Start := Start + Length(Pattern);
  Stop := Start;
  while (Stop <= Length(Json)) and (Json[Stop] <> '"') do
    Inc(Stop);
  Result := Copy(Json, Start, Stop - Start);
end;

procedure TPriceDesk.Receive(const Json: UTF8String);
var
  Reply, Answer: UTF8String;
begin
  Say('receive: ' + Json);
  if Has(Json, '"service_name":"test_throw"') then
    raise Exception.Create('receiver failed on purpose');
  if not Has(Json, '"service_name":"query_price"') then
    Exit;
  Reply := '{"service_name":"query_price","data_target":"bolink","state":1,"errmsg":"",' +
    '"query_order_no":"' + Field(Json, 'query_order_no') + '","order_id":"' +
    Field(Json, 'order_id') + '","price":"5.00","total":"5.00","duration":60,' +
    '"free_out_time":15,"query_time":1700003600,"derate_money":"0.00","derate_duration":0}';
  Answer := BolinkUploadData(Reply);
  Say('reply query_price -> ' + Answer);
  if not Has(Answer, '"state":1') then
    Problem := 'the reply was refused: ' + string(Answer);
  InterlockedIncrement(Answered);
end;

procedure OnHandlerError(E: Exception; const Json: UTF8String);
begin
  InterlockedIncrement(HandlerFailures);
  if E <> nil then
    Say('handler failure reported: ' + E.Message + ' on ' + Json)
  else
    Say('handler failure reported: a non-Exception object on ' + Json);
end;

procedure WaitUntilSent;
var
  Status: UTF8String;
  I: Integer;
begin
  for I := 1 to 2000 do
  begin
    Status := BolinkStatus;
    if Has(Status, '"pending":0,') then
    begin
      Say('Status -> ' + Status);
      Exit;
    end;
    Sleep(10);
  end;
  Fail('the outbox did not empty within 20 s: ' + string(Status));
end;

procedure Run;
var
  Init, OrderId: UTF8String;
  I: Integer;
begin
  Init := UTF8String(GetEnvironmentVariable('BOLINK_INIT_JSON'));
  OrderId := UTF8String(GetEnvironmentVariable('BOLINK_ORDER_ID'));
  if (Init = '') or (OrderId = '') then
    Fail('BOLINK_INIT_JSON and BOLINK_ORDER_ID must be set');

  try
    BolinkLoad('no-such-dir/' + BOLINK_LIBRARY);
    Fail('loading a missing library did not raise');
  except
    on E: EBolinkError do
      Say('missing library -> ' + E.Message);
  end;
  BolinkLoad;
  Say(UTF8String('library: ' + BolinkVersion + ', ABI ' + IntToStr(BolinkAbiVersion)));

  ExpectError('bolink_init(nil)', BolinkTake(bolink_init(nil)), 'NULL');
  ExpectError('BolinkInit(malformed)', BolinkInit('{"union_id":'), 'JSON');
  ExpectError('BolinkInit(not UTF-8)', BolinkInit('{"park_id":"' + #$BE#$A9 + '"}'), 'UTF-8');
  ExpectOk('BolinkInit', BolinkInit(Init));
  ExpectError('BolinkInit again', BolinkInit(Init), 'sdk has been initialized!');

  Desk := TPriceDesk.Create;
  BolinkOnHandlerError := OnHandlerError;
  BolinkSetReceiver(Desk.Receive);

  ExpectOk('BolinkUploadInParkOrder', BolinkUploadInParkOrder(
    '{"car_number":"' + Plate + '","in_time":1700000000,"car_type":"' + CarType +
    '","c_type":"' + EntryKind + '","uid":"100","order_id":"' + OrderId +
    '","empty_plot":20,"in_channel_id":"A1"}'));

  ExpectError('BolinkUploadInParkOrder(missing fields)',
    BolinkUploadInParkOrder('{"car_number":"京A1"}'), 'missing required field');
  ExpectError('BolinkUploadData(no data_target)',
    BolinkUploadData('{"service_name":"park_log"}'), 'data_target');
  ExpectError('bolink_upload_data(nil)', BolinkTake(bolink_upload_data(nil)), 'NULL');

  Say('waiting for the cloud''s query_price');
  I := 0;
  while (Desk.Answered = 0) and (I < 3000) do
  begin
    Sleep(10);
    Inc(I);
  end;
  if Desk.Answered = 0 then
    Fail('no query_price was answered within 30 s');
  if Desk.Problem <> '' then
    Fail(Desk.Problem);
  if HandlerFailures <> 1 then
    Fail('the handler''s exception was not reported exactly once');

  ExpectOk('BolinkUploadOutParkOrder', BolinkUploadOutParkOrder(
    '{"car_number":"' + Plate + '","in_time":1700000000,"out_time":1700003600,"uid":"100",' +
    '"pay_type":"cash","empty_plot":21,"total":"5.00","order_id":"' + OrderId + '",' +
    '"car_type":"' + CarType + '","c_type":"' + EntryKind + '","out_uid":"100",' +
    '"amount_receivable":"5.00"}'));

  WaitUntilSent;
  BolinkClearReceiver;
  ExpectOk('BolinkUnInit', BolinkUnInit);
  Desk.Free;
  ExpectError('BolinkUploadData after BolinkUnInit',
    BolinkUploadData('{"service_name":"park_log","data_target":"cloud"}'), 'not initialized');
end;

begin
  try
    Run;
  except
    on E: Exception do
      Fail(E.ClassName + ': ' + E.Message);
  end;
  Say('pascal: all steps passed');
end.
